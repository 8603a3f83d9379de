"""What a student uploads, checked before anything runs: the notebook (`notebook`: size, JSON, nbformat, no hostile
structure) and the files submitted with it (`attachments`: a bounded bundle, safe names, placed in the job)."""
