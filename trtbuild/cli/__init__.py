"""The command line: click parses, the library does the work, one boundary maps errors to exit codes."""
