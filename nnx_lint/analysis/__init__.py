"""Analysis shared by the rules. Nothing here knows how results are printed."""
