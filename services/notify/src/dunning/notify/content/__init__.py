"""Message content: sandboxed Jinja2 templates, default wording per locale, Babel formatting."""
