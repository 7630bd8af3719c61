"""`waymark referrals ...`: maintenance of the referrals service's data."""

import argparse

from waymark_cli.parts import with_local_keys
from waymark_kernel.db import Database
from waymark_kernel.settings import Settings
from waymark_referrals.crypto import cipher_from_settings
from waymark_referrals.disclosures.service import verify_ledger
from waymark_referrals.rotation import rewrap_batch


def add_commands(verbs: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    referrals = verbs.add_parser("referrals", help="maintenance of the referrals service's data")
    tasks = referrals.add_subparsers(dest="task", required=True)
    tasks.add_parser("verify-ledger", help="check the hash chain of every case's disclosures")
    tasks.add_parser(
        "rotate-key", help="re-wrap every data key under WAYMARK_ENCRYPTION_KEY (the old keys "
        "in WAYMARK_ENCRYPTION_PREVIOUS_KEYS)",
    )


async def run(settings: Settings, task: str) -> int:
    """Returns the process's exit status: 0 when all is well."""
    database = Database(settings.database_url("referrals"))
    try:
        if task == "verify-ledger":
            async with database.transaction() as session:
                check = await verify_ledger(session)
            if check.broken_at is None:  # intact
                print(f"disclosure ledger intact: {check.entries} entries in every case's chain")
                return 0
            case_id, sequence = check.broken_at
            print(f"disclosure ledger BROKEN at entry {sequence} of case {case_id}: "
                  f"{check.problem} ({check.entries} entries verified before it)")
            return 1
        cipher = cipher_from_settings(with_local_keys(settings))
        total = 0
        while True:
            async with database.transaction() as session:
                rewrapped = await rewrap_batch(session, cipher)
            total += rewrapped
            if rewrapped == 0:
                break
        print(f"re-wrapped {total} data keys under key {cipher.key_id}")
        return 0
    finally:
        await database.dispose()
