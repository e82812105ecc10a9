"""Virtual printer ports: a TCP port per printer that an unmodified POS app prints to as if it
were the printer (AppSocket, "port 9100"), journaled and confirmed like any receipt."""
