"""The domain core: the program aggregate and one pure function per command. No I/O here."""
