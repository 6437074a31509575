"""What to tell the author: wording, fix plans and the edits they make."""
