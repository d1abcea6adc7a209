# -h prints usage to stdout and exits 0; --version names the tool.
koala-dump -h | head -n 1
koala-dump --help | grep -c -e '--split-interval'
koala-dump --version | cut -d' ' -f1-2
