"""The migration map (`strangler map`): model.py computes it, pure; the CLI and the HTML
page show it."""
