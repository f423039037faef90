"""What a run says: the results, plan and check sheets, and the file writer."""
