import sys

from wrapctl.entry import main

sys.exit(main())
