"""Mailman 3's web UI, set for this host: run by the plan with mailman-web's Python, as the web
user, once core runs and the lists are imported (and again on a later run: it changes only what
differs). Written by migrate.

    web_setup.py SITE_DOMAIN MAIL_DOMAIN...

* the site (Django's Site 1) takes the lists' web name: Postorius and HyperKitty name it in
  their pages and mails;
* each mail domain of the lists is mapped to the site (django_mailman3's MailDomain), so that
  HyperKitty's permalinks of a list at another domain than the web name use the web name;
* every list core holds gets its record in HyperKitty now, with core's archive policy: without
  it HyperKitty would make the record at a list's first archived post, public, until a
  background task read the policy (a private list's first posts would be public meanwhile).
"""

import sys


def main(argv):
    if len(argv) < 1:
        print("usage: web_setup.py SITE_DOMAIN MAIL_DOMAIN...", file=sys.stderr)
        return 2
    from mailman_web.manage import setup
    setup()
    import django
    django.setup()
    from django.contrib.sites.models import Site
    from django_mailman3.lib.mailman import get_mailman_client
    from django_mailman3.models import MailDomain
    from hyperkitty.lib.mailman import import_list_from_mailman
    from hyperkitty.models import MailingList

    site, mail_domains = argv[0], argv[1:]
    Site.objects.filter(id=1).update(domain=site, name=site)
    for domain in mail_domains:
        MailDomain.objects.get_or_create(site_id=1, mail_domain=domain)
    for mlist in get_mailman_client().get_lists():
        import_list_from_mailman(mlist.list_id)
    for record in MailingList.objects.order_by("name"):
        print("%s: archive policy %s" % (record.name, record.archive_policy))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
