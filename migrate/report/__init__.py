"""Run reports built from the journal: JSON, JUnit XML for CI, HTML with a timeline."""
