"""A registering package whose own dependency is missing: importing it fails (a test's)."""

import a3c_absent_dependency  # noqa: F401
