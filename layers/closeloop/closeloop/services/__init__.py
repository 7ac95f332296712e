"""Services: one use case each, orchestrating models, mail and rules."""
