"""Heedful tray app (PyQt6): renders what the agent says and sends the employee's choices back."""
