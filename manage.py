#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kap.settings")
    from kap.lib.private import private_umask

    private_umask()  # the database and what else it creates: its owner's alone
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
