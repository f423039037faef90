"""Reading rosters: a path or URL to rows of the exact text the user sees."""
