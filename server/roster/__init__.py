"""The roster after creation: token resets, revocation, disabling, deletion (audited), and its API routes."""
