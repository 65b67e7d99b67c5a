"""A small Django project for the tests: in-process (test client) and under real servers."""
