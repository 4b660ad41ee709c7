"""Convoys: a batch of sessions prepared, tracked and merged as one."""
