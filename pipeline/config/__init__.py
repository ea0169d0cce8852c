"""Safe change of configuration (issue 24): detection rules, routing rules, the provider directory and
the consent policy, each a versioned bundle of files.

    bundle.py   the four kinds; a version's files read from a path, loaded by the kind's own loader
    check.py    validate: load, cross-references, the rules' cases, the policy tests
    diff.py     what changed, in words a programme lead reads
    versions.py the versioned store in the database (install, heads, proposals)
    current.py  the version in force of each kind (installed, else the configured files)
    live.py     running workers take up a new version at a batch boundary, without a restart
    shadow.py   the shadow replay: recorded input through the current and the new version, compared
"""
