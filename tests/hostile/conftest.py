"""The stage fixtures of tests/hostile/stages.py, for every test module here."""
from tests.hostile.stages import embedding, encoder  # noqa: F401 (fixtures)
