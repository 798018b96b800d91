"""Checks in a real browser: JupyterLab driven by Playwright in Debian's Chromium."""
