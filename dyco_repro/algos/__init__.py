"""RLVR algorithms on TRL with DyCo-RL as a switch."""
