#!/usr/bin/env python
"""Django's command-line utility for the demo project (run demo.py once first)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    import demo_site  # noqa: F401  (finds django_originverify in a source checkout)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
