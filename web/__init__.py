"""Server-rendered pages: Jinja2 templates and the static files they use, served by the app itself."""
