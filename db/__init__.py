"""The database: SQLAlchemy models, engine and sessions, migrations, and the queries the API and activities share."""
