# Sends, on the old host, every digest Mailman 2 has collected so far: run by Mailman 2's own
# bin/withlist during the freeze, before the old Mailman stops, for a move to Mailman 3 (whose
# import reads config.pck only, so a post in lists/NAME/digest.mbox would never reach the
# digest members). Mailman 2's cron/senddigests is not enough: it skips every list whose digests
# are not sent periodically (digest_send_periodic off: sent only when digest.mbox reaches its
# size threshold).
#
#   PYTHONPATH=FOLDER-OF-THIS-FILE PREFIX/bin/withlist -a -l -r old_digests.send
#
# withlist -a -l calls send() with each list locked; send() saves and withlist unlocks. The
# digest goes to Mailman's virgin queue, which the qrunners (still running) deliver. Python 2.4
# to 2.7, Mailman 2.1's own modules only: this file imports nothing of migrate.
import os


def send(mlist):
    path = os.path.join(mlist.fullpath(), 'digest.mbox')
    try:
        size = os.path.getsize(path)
    except os.error:
        size = 0
    if size > 0:
        mlist.send_digest_now()
        mlist.Save()
        print('%s: digest sent (%d bytes collected)' % (mlist.internal_name(), size))
