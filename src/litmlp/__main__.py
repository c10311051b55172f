import sys

from litmlp.cli import main

sys.exit(main())
