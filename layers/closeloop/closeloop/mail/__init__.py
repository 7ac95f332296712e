"""Mail: rendering customer emails (Jinja2, MIME) and sending them through SES v2."""
