"""Replies that act: a human's reply to a notice becomes an answer, a message or a command."""
