"""Pure rules of the programme: plain Python, no AWS SDK, no clock of their own (time is passed in)."""
