"""The web dashboard (issue 13): Discord login, then each server's settings in the browser."""
