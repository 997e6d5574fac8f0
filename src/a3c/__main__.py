import sys

from a3c.cli import main

sys.exit(main())
