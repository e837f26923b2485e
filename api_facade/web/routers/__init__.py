"""One router module per API area (test, generator, benchmark, workflow); ``common`` holds what they share."""
