"""Instructor dashboard and student feedback pages: server-rendered, session cookies, CSRF on every form."""
