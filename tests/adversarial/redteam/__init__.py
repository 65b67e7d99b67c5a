"""The outside review's attacks on the integrated main (issues 14-16 classes).

``test_*`` files assert the secure behaviour and pass (defences confirmed);
``test_open_findings.py`` holds every defect found, as ``xfail(strict=True)`` tests that
assert the secure behaviour: fix the code, then remove the marker. ``kit.py`` starts the five
real servers (WSGI/gunicorn, ASGI/uvicorn, Flask/gunicorn, Django gunicorn and uvicorn) that
the over-HTTP attacks hit with the same request.
"""
