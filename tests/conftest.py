"""Real servers as session fixtures: each lives in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.temporal",
    "tests.fixtures.emulator",
    "tests.fixtures.s3",
    "tests.fixtures.database",
    "tests.fixtures.stripe",
    "tests.fixtures.platform",
    "tests.fixtures.api",
    "tests.fixtures.drive",
    "tests.fixtures.oidc",
    "tests.fixtures.smtp",
    "tests.fixtures.creator",
]
