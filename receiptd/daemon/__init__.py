"""The running daemon: wiring, serving, systemd."""
