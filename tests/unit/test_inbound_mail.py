"""The customer's mail coming back, read by the pure rules (closeloop/rules/inbound_mail.py):
new text as French and English mail clients write replies, auto-replies, attachments' names,
unsubscribe requests, reply addresses, and no crash whatever the bytes."""

# ruff: noqa: RUF001 - customers write typographic apostrophes, quotes and dashes: the expected texts keep them

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop.rules.inbound_mail import (
    MAX_DEPTH,
    MAX_MAIL_BYTES,
    MAX_NAME_CHARS,
    MAX_PARTS,
    MAX_SUBJECT_CHARS,
    MAX_TEXT_CHARS,
    InboundMail,
    UnparseableMail,
    extract_new_text,
    parse_mail,
    route_address,
    unsubscribe_intent,
)

MAIL = Path(__file__).parent / "mail"
FIXTURES = sorted(MAIL.glob("*.eml"))


def fixture(name: str) -> InboundMail:
    return parse_mail((MAIL / f"{name}.eml").read_bytes())


def message(*headers: str, body: str | bytes = "", content_type: str = "text/plain; charset=utf-8") -> bytes:
    """A small raw mail: the given header lines, then a body."""
    head = "\r\n".join(
        ("From: Jean Dupont <jean@example.fr>", "Subject: Re: votre avis", *headers, f"Content-Type: {content_type}")
    )
    data = body if isinstance(body, bytes) else body.encode()
    return head.encode() + b"\r\n\r\n" + data


# ------------------------------------------------------------------ replies as clients write them

REPLIES = {
    "outlook_fr_alternative_qp": (
        "jean.dupont@pharmacie-centre.fr",
        "RE : Laboratoires Azur : votre avis en une question",
        (
            "Bonjour,\n\n"
            "Très bonne expérience avec votre déléguée, Mme Martin, qui\n"
            "est toujours disponible. Seul bémol : les délais de livraison en décembre.\n\n"
            "Cordialement,\nJean Dupont\nPharmacie du Centre – Lyon"
        ),
    ),
    "outlook_fr_html_cp1252": (
        "v.leger@cabinet-leger.fr",
        "RE : Laboratoires Azur : votre avis en une question",
        (
            "Bonjour,\n"
            "J’ai mis 9 : l’équipe est réactive, et le portail de commande est bien plus clair qu’avant.\n"
            "Un regret : les échantillons arrivent en retard (2 semaines) – à améliorer.\n\n"
            "Bien à vous,\nDr Valérie Léger"
        ),
    ),
    "outlook_web_en_html_base64": (
        "mary.smith@northclinic.example",
        "Re: Azur Laboratories: your opinion in one question",
        (
            "Hello,\n\n"
            "I gave you a 6 because the last two orders arrived late & incomplete.\n"
            "Happy to discuss it, call me after 2 pm.\n\nMary"
        ),
    ),
    "outlook_en_original_cp1252": (
        "raj.patel@stmarys.example",
        "RE: Azur Laboratories: your opinion in one question",
        (
            "I scored you 3. The “next-day” delivery took five days, twice.\n"
            "Nobody answered the hotline either.\n\nRaj Patel\nPharmacy Manager, St Mary’s"
        ),
    ),
    "gmail_fr_qp": (
        "marc.petit.pharma@gmail.com",
        "Re: Laboratoires Azur : votre avis en une question",
        (
            "Bonjour,\n\n"
            "Je vous ai mis 10 : rien à redire, Sophie assure un suivi > à mes attentes.\n"
            "Pensez juste à envoyer les factures par courriel.\n\nBonne journée,\nMarc"
        ),
    ),
    "gmail_en_8bit": (
        "liam.obrien@gmail.com",
        "Re: Azur Laboratories: your opinion in one question",
        (
            "Hi,\n\nSolid 8 from me. The rep is great; the ordering portal, not so much –\n"
            "it logged me out twice while I was building a €1,200 order.\n\nCheers,\nLiam"
        ),
    ),
    "iphone_fr_qp": (
        "claire.rousseau@orange.fr",
        "Rép. : Laboratoires Azur : votre avis en une question",
        (
            "Je vous ai mis 4. Trois ruptures de stock en un mois sur le paracétamol pédiatrique, mes patients en "
            "pâtissent.\nRappelez-moi demain matin, avant 9 h si possible."
        ),
    ),
    "apple_mail_en_alternative": (
        "anna@kellerdental.example",
        "Re: Azur Laboratories: your opinion in one question",
        (
            "Thanks for calling me back so quickly.\n"
            "The new sample kits are exactly what we needed, so it's a 10.\n\nBest,\nAnna"
        ),
    ),
    "thunderbird_fr_latin9_flowed": (
        "pierre@pharmacie-garnier.fr",
        "Re: Laboratoires Azur : votre avis en une question",
        (
            "Bonjour,\n\n"
            "La prise en charge de ma réclamation (un avoir de 120 €) a été rapide et efficace, je mets 9.\n"
            "Pour être parfait : un interlocuteur unique."
        ),
    ),
}


@pytest.mark.parametrize(
    ("name", "sender", "subject", "text"), [(k, *v) for k, v in REPLIES.items()], ids=list(REPLIES)
)
def test_a_reply_gives_exactly_the_customers_new_text(name: str, sender: str, subject: str, text: str) -> None:
    mail = fixture(name)

    assert mail.text == text
    assert mail.from_address == sender
    assert mail.subject == subject
    assert mail.auto_reply is None
    assert not mail.forwarded
    assert mail.attachment_names == ()


def test_a_reply_keeps_its_message_id_without_angle_brackets_and_its_size() -> None:
    raw = (MAIL / "gmail_fr_qp.eml").read_bytes()

    mail = parse_mail(raw)

    assert mail.message_id == "CAJx3kL9p8Qm_7sVZ2uWmF4c1qR0fH3Yd+eN6tB5gA2wXoP9yUw@mail.gmail.com"
    assert mail.size == len(raw)


def test_an_outlook_reply_asking_for_no_auto_answers_is_still_a_persons_reply() -> None:
    # Given Outlook's "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply" on a person's reply
    assert (
        b"X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply"
        in (MAIL / "outlook_en_original_cp1252.eml").read_bytes()
    )
    # Then it is not taken for an auto-reply
    assert fixture("outlook_en_original_cp1252").auto_reply is None


# ------------------------------------------------------------------ auto-replies and bounces


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("exchange_oof_fr", "auto-submitted"),
        ("gmail_vacation_en", "auto-submitted"),
        ("subject_only_auto_reply_fr", "subject"),
        ("bounce_mailer_daemon", "mailer-daemon"),
    ],
)
def test_auto_replies_and_bounces_say_why_they_are_automatic(name: str, reason: str) -> None:
    assert fixture(name).auto_reply == reason


def test_an_exchange_out_of_office_keeps_its_decoded_subject_and_text() -> None:
    mail = fixture("exchange_oof_fr")

    assert mail.subject == "Réponse automatique : Laboratoires Azur : votre avis en une question"
    assert mail.text == (
        "Bonjour,\n\nJe suis absente jusqu'au 23 novembre inclus. "
        "En cas d'urgence, contactez le secrétariat au 04 72 00 00 00."
    )


@pytest.mark.parametrize(
    ("headers", "subject", "reason"),
    [
        (("Auto-Submitted: auto-generated",), "Re: votre avis", "auto-submitted"),
        (("Auto-Submitted: auto-replied (vacation)",), "Re: votre avis", "auto-submitted"),
        (("Auto-Submitted: no",), "Re: votre avis", None),
        (("X-Autoreply: yes",), "Re: votre avis", "x-autoreply"),
        (("X-Autorespond: Je suis absent",), "Re: votre avis", "x-autoreply"),
        (("X-Auto-Response-Suppress: All",), "Accepté : point trimestriel", "x-auto-response-suppress"),
        (("X-Auto-Response-Suppress: OOF, AutoReply",), "Re: votre avis", None),
        (("Precedence: bulk",), "Re: votre avis", "precedence"),
        (("Precedence: auto_reply",), "Re: votre avis", "precedence"),
        (("Precedence: list",), "Re: votre avis", None),
        ((), "Automatic reply: Azur Laboratories: your opinion", "subject"),
        ((), "RE: Absence du bureau", "subject"),
        ((), "Out of Office: back on Monday", "subject"),
        ((), "Autosvar: Azur", "subject"),
        ((), "Re: my out of office colleague was rude", None),
        ((), "Re: votre avis", None),
    ],
)
def test_auto_reply_headers_and_subjects(headers: tuple[str, ...], subject: str, reason: str | None) -> None:
    raw = (
        "\r\n".join(("From: Jean Dupont <jean@example.fr>", f"Subject: {subject}", *headers)).encode()
        + b"\r\n\r\nBonjour"
    )
    assert parse_mail(raw).auto_reply == reason


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON", "Mail Delivery System <MAILER-DAEMON@mx.example.fr>", "postmaster@example.fr"]
)
def test_mail_from_a_mailer_daemon_or_postmaster_is_a_bounce(sender: str) -> None:
    raw = f"From: {sender}\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nSorry".encode()
    assert parse_mail(raw).auto_reply == "mailer-daemon"


# ------------------------------------------------------------------ attachments and forwards


def test_attachments_give_harmless_decoded_names_only() -> None:
    mail = fixture("attachments_fr")

    assert mail.attachment_names == (
        "Réclamation.pdf",  # RFC 2231, decomposed accent recomposed
        "photo_comptoir_été.jpg",  # RFC 2047
        "passwd",  # was ../../etc/passwd
        "facturefdp.exe",  # path, bell, CR LF and right-to-left override removed
        "Commande 4512.eml",  # the attached message
    )
    assert all(not re.search(r"[/\\\x00-\x1f\u202e]", name) for name in mail.attachment_names)
    assert mail.text == (
        "Bonjour,\n\nVoici la réclamation dont je vous ai parlé au téléphone, avec la photo du comptoir.\n\n"
        "Marc Lefebvre"
    )


def test_an_html_bodys_embedded_signature_image_is_not_an_attachment() -> None:
    assert "image001.png" not in fixture("attachments_fr").attachment_names


def test_an_attached_message_makes_the_mail_forwarded() -> None:
    assert fixture("attachments_fr").forwarded


def test_a_forwarded_message_keeps_the_text_written_above_it() -> None:
    mail = fixture("forwarded_gmail_en")

    assert mail.forwarded
    assert mail.text == "This is the delay I mentioned in my survey answer."


def test_a_long_attachment_name_is_cut_at_255_characters() -> None:
    name = "r" * 400 + ".pdf"
    raw = message(
        content_type='multipart/mixed; boundary="b"',
        body=f"--b\r\nContent-Type: text/plain\r\n\r\nVoir PJ\r\n--b\r\nContent-Type: application/pdf\r\n"
        f'Content-Disposition: attachment; filename="{name}"\r\n\r\nJVBERi0=\r\n--b--\r\n',
    )

    mail = parse_mail(raw)

    assert mail.attachment_names == ("r" * MAX_NAME_CHARS,)
    assert mail.text == "Voir PJ"


def test_an_attachment_without_a_readable_name_still_shows_as_an_attachment() -> None:
    raw = message(
        content_type='multipart/mixed; boundary="b"',
        body="--b\r\nContent-Type: text/plain\r\n\r\nCi-joint\r\n--b\r\nContent-Type: application/pdf\r\n"
        "Content-Disposition: attachment\r\n\r\nJVBERi0=\r\n--b--\r\n",
    )

    mail = parse_mail(raw)

    assert (mail.text, mail.attachment_names) == ("Ci-joint", ("attachment",))


# ------------------------------------------------------------------ extract_new_text, line by line

NEW_TEXT = [
    pytest.param(
        "Merci pour l'appel.\n\n-----Message d'origine-----\nDe : Azur\nEnvoyé : lundi\nObjet : avis",
        "Merci pour l'appel.",
        id="outlook-message-d-origine",
    ),
    pytest.param(
        "Thanks.\n\n-----Original Message-----\nFrom: Azur\nSent: Monday",
        "Thanks.",
        id="outlook-original-message",
    ),
    pytest.param(
        "Parfait.\n\n*De :* Laboratoires Azur <enquetes@azur.fr>\n*Envoyé :* lundi 16 novembre 2026 09:02\n"
        "*À :* Jean\n*Objet :* votre avis",
        "Parfait.",
        id="outlook-bold-markers",
    ),
    pytest.param(
        "Parfait.\nDe: Laboratoires Azur <enquetes@azur.fr>\nEnvoyé: lundi 16 novembre 2026 09:02\nÀ: Jean",
        "Parfait.",
        id="outlook-no-space-before-colon",
    ),
    pytest.param(
        "Parfait.\nDe\u00a0: Laboratoires Azur\nEnvoyé\u00a0: lundi 16 novembre 2026 09:02\nObjet\u00a0: avis",
        "Parfait.",
        id="outlook-no-break-space",
    ),
    pytest.param(
        "Good.\n________________________________\nFrom: Azur Laboratories\nSent: Monday",
        "Good.",
        id="outlook-underscores",
    ),
    pytest.param(
        "De : mon point de vue, 8 c'est bien.\nÀ bientôt",
        "De : mon point de vue, 8 c'est bien.\nÀ bientôt",
        id="a-de-line-that-is-no-header-block-stays",
    ),
    pytest.param(
        "Super équipe.\n\nOn Mon, 16 Nov 2026 at 09:02, Azur Laboratories <\nreply+w6vbn3cx2kqe@reply.example.com>\n"
        "wrote:\n\n> Dear Liam",
        "Super équipe.",
        id="gmail-attribution-wrapped-over-three-lines",
    ),
    pytest.param(
        "Le commercial m'a écrit :\nmerci de le rappeler.",
        "Le commercial m'a écrit :\nmerci de le rappeler.",
        id="a-sentence-like-an-attribution-with-no-date-stays",
    ),
    pytest.param(
        "Le 16 nov. 2026 à 09:02, Laboratoires Azur <a@b.fr> a écrit :\n> Votre avis ?\n\nJe mets 7.\n",
        "Je mets 7.",
        id="bottom-posted-reply",
    ),
    pytest.param(
        "> Recommanderiez-vous Azur ?\nOui, 9.\n> Un commentaire ?\nLes délais.\n",
        "Oui, 9.\nLes délais.",
        id="interleaved-reply",
    ),
    pytest.param(
        "On 16 Nov 2026, at 09:02, Azur <a@b.com> wrote:\n\n> Dear Anna,\n> Would you recommend us?\n",
        "",
        id="top-quoted-reply-with-nothing-new",
    ),
    pytest.param(
        "Oui, un 10.\n\nEnvoyé de mon iPad\n\n> Le 16 nov. 2026 à 09:02, Azur a écrit :",
        "Oui, un 10.",
        id="envoye-de-mon-ipad",
    ),
    pytest.param("Yes, a 10.\n\nSent from my iPhone", "Yes, a 10.", id="sent-from-my-iphone"),
    pytest.param(
        "Ok pour l'appel.\n\nObtenir Outlook pour iOS<https://aka.ms/o0ukef>", "Ok pour l'appel.", id="outlook-ios-fr"
    ),
    pytest.param("Call me.\n\nGet Outlook for Android<https://aka.ms/AAb9ysg>", "Call me.", id="outlook-android-en"),
    pytest.param("Voilà.\n\n-- \nJean Dupont\n06 12 34 56 78", "Voilà.", id="signature-delimiter"),
    pytest.param(
        "Voir ci-dessous.\n\nDébut du message réexpédié :\n\nDe: Azur\nObjet: commande",
        "Voir ci-dessous.",
        id="apple-forward-fr",
    ),
    pytest.param("FYI\n\nBegin forwarded message:\n\nFrom: Azur", "FYI", id="apple-forward-en"),
    pytest.param(
        "Pour info.\n\n---------- Message transféré ---------\nDe : Azur\nDate: lun. 16 nov. 2026",
        "Pour info.",
        id="gmail-forward-fr",
    ),
    pytest.param(
        "Ligne 1\r\nLigne 2   \r\n\r\n\r\n\r\nLigne 3\r\n\r\n",
        "Ligne 1\nLigne 2\n\nLigne 3",
        id="newlines-normalised",
    ),
    pytest.param("Très bien, 5 > 3, mais 9 < 10.", "Très bien, 5 > 3, mais 9 < 10.", id="a-greater-than-in-a-sentence"),
]


@pytest.mark.parametrize(("body", "expected"), NEW_TEXT)
def test_extract_new_text_cuts_quoted_history_forwards_and_signatures(body: str, expected: str) -> None:
    assert extract_new_text(body) == expected


def test_a_forward_marker_in_the_text_makes_the_mail_forwarded() -> None:
    raw = message(body="Pour info.\n\n---------- Message transféré ---------\nDe : Azur\n\nVotre commande")

    mail = parse_mail(raw)

    assert mail.forwarded
    assert mail.text == "Pour info."


def test_a_subject_starting_with_tr_makes_the_mail_forwarded() -> None:
    raw = b"From: a@b.fr\r\nSubject: TR: commande 4512\r\n\r\nVoir plus bas"
    assert parse_mail(raw).forwarded


def test_the_text_is_cut_at_the_limit_without_splitting_a_character_from_its_accent() -> None:
    # Given q + combining acute (no precomposed form), placed so that the limit falls between the two
    body = "x" + "q\u0301" * MAX_TEXT_CHARS

    text = extract_new_text(body)

    assert len(text) <= MAX_TEXT_CHARS
    assert text.count("q") == text.count("\u0301")


# ------------------------------------------------------------------ charsets and encodings


def test_an_unknown_charset_name_falls_back_to_utf8() -> None:
    raw = message(content_type="text/plain; charset=x-unknown-2026", body="Très réactif, 9.".encode())
    assert parse_mail(raw).text == "Très réactif, 9."


def test_8bit_text_with_no_charset_is_read_as_windows_1252() -> None:
    raw = message(content_type="text/plain", body="Réponse rapide – merci.".encode("cp1252"))
    assert parse_mail(raw).text == "Réponse rapide – merci."


def test_text_labelled_utf8_that_is_not_keeps_what_it_can() -> None:
    raw = message(content_type="text/plain; charset=utf-8", body="Délai ok".encode("latin-1"))
    assert parse_mail(raw).text == "D\ufffdlai ok"


def test_a_subject_in_raw_8bit_utf8_is_decoded() -> None:
    raw = "From: a@b.fr\r\nSubject: Re: votre avis, très bien\r\n\r\nok".encode()
    assert parse_mail(raw).subject == "Re: votre avis, très bien"


def test_a_text_part_with_no_content_type_is_plain_text() -> None:
    raw = b"From: a@b.fr\r\nSubject: Re: avis\r\nMIME-Version: 1.0\r\n\r\nNote: 8/10"
    assert parse_mail(raw).text == "Note: 8/10"


def test_broken_base64_decodes_as_far_as_it_goes() -> None:
    good = base64.b64encode("Bonjour, je mets 8 à votre équipe.".encode()).decode()
    raw = message("Content-Transfer-Encoding: base64", body=good[:-3] + "!!*\r\n")

    mail = parse_mail(raw)

    assert mail.text.startswith("Bonjour, je mets 8")


def test_nul_bytes_and_control_characters_never_reach_the_text_or_subject() -> None:
    raw = b"From: a@b.fr\r\nSubject: Re:\x00 avis\x07\r\n\r\nBon\x00jour\x1b[31m\r\n"

    mail = parse_mail(raw)

    assert mail.text == "Bonjour[31m"
    assert mail.subject == "Re: avis"


def test_a_nul_byte_in_a_header_hides_no_header() -> None:
    raw = b"Rec\x00eived: from mx.example.fr\r\nFrom: a@b.fr\r\nSubject: Re: avis\x00\r\n\r\nMerci"

    mail = parse_mail(raw)

    assert (mail.from_address, mail.subject, mail.text) == ("a@b.fr", "Re: avis", "Merci")


def test_an_html_only_reply_drops_styles_scripts_and_quoted_history() -> None:
    html = (
        "<html><head><title>Re</title><style>p{color:red}</style></head><body>"
        "<script>alert(1)</script><p>Bonjour,</p><div>Livraison &laquo;&nbsp;express&nbsp;&raquo; en 5 jours"
        "&hellip;<br>D&eacute;cevant &amp; co&ucirc;teux.</div>"
        "<blockquote type='cite'>Recommanderiez-vous Azur ?</blockquote><p>Merci</p></body></html>"
    )
    raw = message(content_type="text/html; charset=us-ascii", body=html)

    assert parse_mail(raw).text == (
        "Bonjour,\nLivraison \u00ab\u00a0express\u00a0\u00bb en 5 jours\u2026\nD\u00e9cevant & co\u00fbteux.\nMerci"
    )


def test_an_alternative_whose_plain_text_is_empty_gives_its_html_text() -> None:
    raw = message(
        content_type='multipart/alternative; boundary="alt"',
        body="--alt\r\nContent-Type: text/plain\r\n\r\n \r\n--alt\r\nContent-Type: text/html\r\n\r\n"
        "<div>Je mets 7.</div>\r\n--alt--\r\n",
    )
    assert parse_mail(raw).text == "Je mets 7."


def test_a_garbled_from_or_message_id_costs_that_field_only() -> None:
    raw = b"From: <<<@@@>>>\r\nMessage-ID: not an id\r\nSubject: Re: avis\r\n\r\nMerci"

    mail = parse_mail(raw)

    assert (mail.from_address, mail.message_id, mail.text) == (None, None, "Merci")


def test_a_multipart_without_its_boundary_still_gives_its_text() -> None:
    raw = message(content_type="multipart/mixed", body="Je mets 6.")
    assert parse_mail(raw).text == "Je mets 6."


def test_a_subject_longer_than_200_characters_is_cut() -> None:
    raw = ("From: a@b.fr\r\nSubject: Re: " + "très " * 100 + "\r\n\r\nok").encode()
    subject = parse_mail(raw).subject
    assert len(subject) == MAX_SUBJECT_CHARS
    assert subject.startswith("Re: très très")


# ------------------------------------------------------------------ limits


def test_mail_over_the_size_limit_is_too_large_before_it_is_read() -> None:
    raw = message(body="x" * 200)

    with pytest.raises(UnparseableMail) as raised:
        parse_mail(raw, max_bytes=len(raw) - 1)

    assert raised.value.reason == "too_large"
    assert parse_mail(raw, max_bytes=len(raw)).size == len(raw)


def test_the_default_size_limit_is_10_mib() -> None:
    assert MAX_MAIL_BYTES == 10 * 1024 * 1024
    with pytest.raises(UnparseableMail) as raised:
        parse_mail(b"x" * (MAX_MAIL_BYTES + 1))
    assert raised.value.reason == "too_large"


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\nno header at all", b"\x00\xff\xfe" * 10])
def test_bytes_with_no_header_are_unparseable(raw: bytes) -> None:
    with pytest.raises(UnparseableMail) as raised:
        parse_mail(raw)
    assert raised.value.reason == "unparseable"


def nested(depth: int, text: str) -> bytes:
    body = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n".encode()
    for level in range(depth):
        boundary = f"b{level}"
        body = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n--{boundary}\r\n'.encode()
            + body
            + f"--{boundary}--\r\n".encode()
        )
    return b"From: a@b.fr\r\nSubject: Re: avis\r\n" + body


def test_text_within_the_depth_limit_is_read() -> None:
    assert parse_mail(nested(MAX_DEPTH, "Je mets 9.")).text == "Je mets 9."


def test_text_nested_deeper_than_the_limit_is_not_read() -> None:
    assert parse_mail(nested(MAX_DEPTH + 1, "Je mets 9.")).text == ""


def test_at_most_max_parts_parts_are_read() -> None:
    parts = "".join(
        f'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="f{n}.pdf"\r\n\r\nx\r\n'
        for n in range(MAX_PARTS + 50)
    )
    raw = message(content_type='multipart/mixed; boundary="b"', body=parts + "--b--\r\n")

    names = parse_mail(raw).attachment_names

    assert names[0] == "f0.pdf"
    assert len(names) == MAX_PARTS - 1  # the root multipart is a part too


# ------------------------------------------------------------------ unsubscribe requests


@pytest.mark.parametrize(
    ("text", "subject", "intent"),
    [
        ("STOP", "Re: votre avis", "unsubscribe"),
        ("Stop.", "", "unsubscribe"),
        ("Désinscrire", "Re: votre avis", "unsubscribe"),
        ("desinscription svp", "Re: votre avis", "unsubscribe"),
        ("Merci de me désinscrire.\nCordialement,\nJean Dupont", "Re: votre avis", "unsubscribe"),
        ("Bonjour, je souhaite me désabonner de vos enquêtes. Merci", "RE : votre avis", "unsubscribe"),
        ("Unsubscribe please", "Re: your opinion", "unsubscribe"),
        ("Please remove me from this list. Thanks, Mary Smith", "Re: your opinion", "unsubscribe"),
        ("Je ne veux plus recevoir vos mails.", "Re: votre avis", "unsubscribe"),
        ("Retirez-moi de la liste", "", "unsubscribe"),
        ("Je ne veux pas recevoir ces mails.", "Re: votre avis", "unsubscribe"),
        ("Pas de mails svp", "Re: votre avis", "unsubscribe"),
        ("Please do not email me again.", "Re: your opinion", "unsubscribe"),
        ("Ne pas me désinscrire svp", "Re: votre avis", "mention"),
        ("", "unsubscribe", "unsubscribe"),
        ("", "Re: Désinscription", "unsubscribe"),
        ("Merci", "unsubscribe", "unsubscribe"),
        ("stop calling me at lunch", "Re: your opinion", "mention"),
        ("Arrêtez de m'appeler le midi, je suis en consultation.", "Re: votre avis", "mention"),
        ("Please don't unsubscribe me, I like the surveys", "Re: your opinion", "mention"),
        (
            "Le produit est bien mais le service client est lent. Si ça continue je vais me désabonner.",
            "Re: votre avis",
            "mention",
        ),
        ("Sales reps visit too often; stop sending three of them every month.", "Re: your opinion", "mention"),
        ("I have a long complaint about the delays and the invoices", "unsubscribe", "mention"),
        ("Très bien, un 9.", "Re: votre avis", "none"),
        ("Great service, thanks!", "Re: your opinion", "none"),
        ("", "Re: votre avis", "none"),
        ("Le stockage est un problème", "Re: votre avis", "none"),
    ],
)
def test_unsubscribe_intent(text: str, subject: str, intent: str) -> None:
    assert unsubscribe_intent(text, subject) == intent


# ------------------------------------------------------------------ reply addresses


@pytest.mark.parametrize(
    ("address", "route"),
    [
        ("reply+abcdef234567@reply.example.com", ("reply", "abcdef234567")),
        ("Reply+ABCDEF234567@reply.example.com", ("reply", "abcdef234567")),
        ("unsubscribe+k7m2qzx4ab3c@reply.demo.closeloop.example", ("unsubscribe", "k7m2qzx4ab3c")),
        ("<UNSUBSCRIBE+K7M2QZX4AB3C@Reply.Example.com>", ("unsubscribe", "k7m2qzx4ab3c")),
        ("reply+abcdef23456@reply.example.com", None),  # 11 characters
        ("reply+abcdef2345678@reply.example.com", None),  # 13 characters
        ("reply+abcdef234561@reply.example.com", None),  # 1 is not in the alphabet
        ("reply+abcdef23456-@reply.example.com", None),
        ("replyabcdef234567@reply.example.com", None),  # no plus
        ("bounce+abcdef234567@reply.example.com", None),  # another prefix
        ("reply+abcdef234567", None),  # no domain
        ("", None),
    ],
)
def test_route_address(address: str, route: tuple[str, str] | None) -> None:
    assert route_address(address) == route


# ------------------------------------------------------------------ no crash, whatever the bytes


def assert_read_safely(raw: bytes) -> None:
    """parse_mail raises UnparseableMail or gives clean strings within their limits."""
    try:
        mail = parse_mail(raw)
    except UnparseableMail as error:
        reason = error.reason
        assert reason in ("unparseable", "too_large")
        return
    assert isinstance(mail.text, str)
    assert len(mail.text) <= MAX_TEXT_CHARS
    assert len(mail.subject) <= MAX_SUBJECT_CHARS
    assert mail.size == len(raw)
    for value in (mail.text, mail.subject, mail.message_id or "", mail.from_address or "", *mail.attachment_names):
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogate: storable as it is
    assert "\n" not in mail.subject
    for name in mail.attachment_names:
        assert 0 < len(name) <= MAX_NAME_CHARS
        assert not re.search(r"[/\\\x00-\x1f]", name)


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_the_parser(raw: bytes) -> None:
    assert_read_safely(raw)


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_after_real_headers_never_crash_the_parser(body: bytes) -> None:
    assert_read_safely((MAIL / "attachments_fr.eml").read_bytes().split(b"\n\n", 1)[0] + b"\n\n" + body)


WEIRD_CHARSETS = [b"utf-8", b"x-unknown", b"rot13", b"base64", b"utf-7", b"idna", b"utf-16", b"''", b'"', b"\xff"]


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    raw = bytearray((MAIL / draw(st.sampled_from([path.name for path in FIXTURES]))).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "garbage", "boundary", "charset", "base64", "qp", "nul", "cte"]))
        position = draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "truncate":
            del raw[position:]
        elif kind == "garbage":
            raw[position:position] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "boundary":
            raw = bytearray(re.sub(rb"(?m)^--[^\r\n]*$", b"", bytes(raw), count=draw(st.integers(1, 3))))
        elif kind == "charset":
            raw = bytearray(
                re.sub(rb"charset=\"?[\w-]+\"?", b"charset=" + draw(st.sampled_from(WEIRD_CHARSETS)), bytes(raw))
            )
        elif kind == "base64":
            raw = bytearray(bytes(raw).replace(b"\n", b"\n" + draw(st.sampled_from([b"!", b"=", b"==x", b"\xe9"])), 3))
        elif kind == "qp":
            raw = bytearray(bytes(raw).replace(b"=", draw(st.sampled_from([b"=Z", b"=\r", b"==", b"=\xc3"]))))
        elif kind == "nul":
            raw[position:position] = b"\x00" * draw(st.integers(1, 5))
        else:
            raw = bytearray(
                re.sub(
                    rb"Content-Transfer-Encoding: [\w-]+",
                    b"Content-Transfer-Encoding: "
                    + draw(st.sampled_from([b"base64", b"quoted-printable", b"x-uue", b"8bit", b"7bit"])),
                    bytes(raw),
                )
            )
    return bytes(raw)


@FAST
@given(mutated_fixture())
def test_mutations_of_real_mail_never_crash_the_parser(raw: bytes) -> None:
    assert_read_safely(raw)


HEADER_LINES = st.sampled_from(
    [
        b"Subject: =?utf-8?B?w6k=?=",
        b"Subject: =?x-bad?Q?=E9t=E9?=",
        b"Subject: =?utf-8?B?!!!?=",
        b"From: =?utf-8?Q?Jean?= <jean@example.fr>",
        b"From: <<>>",
        b'From: "unterminated <a@b',
        b"Message-ID: <>",
        b"Auto-Submitted: auto-replied",
        b"X-Auto-Response-Suppress: All",
        b"Content-Disposition: attachment; filename*=UTF-8''%FF%FE",
        b"Content-Disposition: attachment; filename*0*=utf-8''a%E9; filename*1=b",
        b'Content-Disposition: inline; filename="..\\\\..\\\\x"',
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"X-Garbage: \xff\xfe\x00",
        b"\xff: nameless",
        b"Subject",
    ]
)


def leaf() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda kind, charset, headers, body: (
            b"Content-Type: " + kind + b"; charset=" + charset + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body
        ),
        st.sampled_from([b"text/plain", b"text/html", b"application/pdf", b"image/png", b"text/x-unknown"]),
        st.sampled_from(WEIRD_CHARSETS),
        st.lists(HEADER_LINES, max_size=3),
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
            st.just(b"<p>Bonjour<br>&eacute;<blockquote>old</blockquote><script>x</script>"),
            st.just(b"Merci\r\n\r\nLe 16 nov. 2026 a 09:02, Azur a =C3=A9crit :\r\n> q"),
        ),
    )


def container(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    def multipart(subtype: bytes, boundary: bytes, parts: list[bytes], close: bool) -> bytes:
        body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
        end = b"--" + boundary + b"--\r\n" if close else b""
        return (
            b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n\r\npreamble\r\n' + body + end
        )

    return st.one_of(
        st.builds(
            multipart,
            st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"digest", b"x-weird"]),
            st.sampled_from([b"b1", b"b2", b"=_x", b"", b"b1\xff"]),
            st.lists(children, max_size=4),
            st.booleans(),
        ),
        children.map(lambda part: b"Content-Type: message/rfc822\r\n\r\n" + part),
    )


MIME_TREES = st.recursive(leaf(), container, max_leaves=12)


@FAST
@given(st.lists(HEADER_LINES, max_size=4), MIME_TREES)
def test_structurally_random_mime_trees_never_crash_the_parser(headers: list[bytes], tree: bytes) -> None:
    assert_read_safely(b"From: a@b.fr\r\n" + b"".join(line + b"\r\n" for line in headers) + tree)


@FAST
@given(st.text(max_size=2000))
def test_extract_new_text_takes_any_text(body: str) -> None:
    text = extract_new_text(body)
    assert len(text) <= MAX_TEXT_CHARS
    assert "\x00" not in text
    text.encode("utf-8")
