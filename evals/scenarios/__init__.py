"""The shipped incident scenarios (YAML files; the format is in README.md next to them)."""
