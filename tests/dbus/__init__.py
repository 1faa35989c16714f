"""Tests of the D-Bus adapter (``zeitbus daemon``) against real processes."""
