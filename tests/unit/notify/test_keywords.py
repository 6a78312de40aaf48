"""Inbound SMS keywords: every FCC opt-out word, careful opt-ins, help, Japanese and Korean."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.notify.domain.keywords import KeywordMatch, SmsKeyword, match_sms_keyword, sms_keyword

OPT_OUT, OPT_IN, HELP = SmsKeyword.STOP, SmsKeyword.START, SmsKeyword.HELP


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop!! ", "STOP"),
        ("STOPALL", "STOPALL"),
        ("Stop all", "STOPALL"),
        ("quit", "QUIT"),
        ("End.", "END"),
        ("REVOKE", "REVOKE"),
        ("opt out", "OPT OUT"),
        ("OPT-OUT", "OPT OUT"),
        ("optout", "OPT OUT"),
        ("Cancel", "CANCEL"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("\uff33\uff34\uff2f\uff30", "STOP"),  # full-width, as Japanese phone keyboards type it
        ('"stop"', "STOP"),
    ],
)
def test_the_whole_message_as_an_fcc_opt_out_word(body: str, keyword: str) -> None:
    assert match_sms_keyword(body) == KeywordMatch(OPT_OUT, keyword, whole_message=True)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("stop please", "STOP"),
        ("Please STOP texting me", "STOP"),
        ("yes stop", "STOP"),  # an opt-out word beats an opt-in one
        ("I said unsubscribe me from this", "UNSUBSCRIBE"),
        ("please opt me out... opt out", "OPT OUT"),
        ("cancel please", "CANCEL"),
        ("quit texting me", "QUIT"),
        ("END these messages now", "END"),
    ],
)
def test_reasonable_wording_around_an_opt_out_word_still_opts_out(body: str, keyword: str) -> None:
    # 47 CFR 64.1200(a)(10): revocation "by any reasonable means", not only the bare keyword.
    assert match_sms_keyword(body) == KeywordMatch(OPT_OUT, keyword, whole_message=False)


@pytest.mark.parametrize(
    "body",
    [
        "I will pay at the end of the month",
        "please don't cancel my subscription",
        "my payment stopped?",
        "nonstop",
        "Thank you",
        "ok",
        "",
        "   ...!!!   ",
        "\U0001f6d1",
    ],
)
def test_ordinary_replies_carry_no_keyword(body: str) -> None:
    assert match_sms_keyword(body) is None


@pytest.mark.parametrize(("body", "keyword"), [("START", "START"), ("unstop", "UNSTOP"), ("Yes!", "YES")])
def test_opt_in_only_when_the_whole_message_is_the_word(body: str, keyword: str) -> None:
    assert match_sms_keyword(body) == KeywordMatch(OPT_IN, keyword, whole_message=True)


@pytest.mark.parametrize("body", ["yes please", "Yes I paid", "start over", "Can I restart my plan?"])
def test_no_opt_in_from_a_sentence(body: str) -> None:
    assert sms_keyword(body) is not SmsKeyword.START


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("HELP", KeywordMatch(HELP, "HELP", whole_message=True)),
        ("help?", KeywordMatch(HELP, "HELP", whole_message=True)),
        ("Info", KeywordMatch(HELP, "INFO", whole_message=True)),
        ("help please", KeywordMatch(HELP, "HELP", whole_message=False)),
        ("help stop", KeywordMatch(OPT_OUT, "STOP", whole_message=False)),
    ],
)
def test_help(body: str, found: KeywordMatch) -> None:
    assert match_sms_keyword(body) == found


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("停止", "停止"),
        ("停止してください", "停止"),
        ("配信停止", "配信停止"),
        ("配信停止お願いします", "配信停止"),
        ("受信拒否", "受信拒否"),
        ("ストップ", "ストップ"),
        ("수신거부", "수신거부"),
        ("중지", "중지"),
        ("중지해주세요", "중지"),
        ("수신 거부", "수신거부"),
    ],
)
def test_japanese_and_korean_opt_outs(body: str, keyword: str) -> None:
    assert match_sms_keyword(body) == KeywordMatch(OPT_OUT, keyword, whole_message=True)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("もう配信停止にしてください", "配信停止"),
        ("그만 보내세요", "그만보내"),
        ("문자 보내지 마세요", "보내지마"),
    ],
)
def test_unambiguous_japanese_and_korean_phrases_inside_a_reply(body: str, keyword: str) -> None:
    assert match_sms_keyword(body) == KeywordMatch(OPT_OUT, keyword, whole_message=False)


@pytest.mark.parametrize("body", ["カードが停止されました", "카드가 정지되었어요", "支払いました"])
def test_a_reply_about_a_stopped_card_is_not_an_opt_out(body: str) -> None:
    assert sms_keyword(body) is None


@given(st.text())
def test_arbitrary_text_never_raises(body: str) -> None:
    found = match_sms_keyword(body)
    assert sms_keyword(body) is (None if found is None else found.kind)


@given(
    word=st.sampled_from(["STOP", "quit", "End", "revoke", "opt out", "CANCEL", "unsubscribe", "stopall"]),
    before=st.text(alphabet=" \t\n.,!?*\"'()-", max_size=5),
    after=st.text(alphabet=" \t\n.,!?*\"'()-", max_size=5),
)
def test_every_opt_out_word_survives_surrounding_punctuation(word: str, before: str, after: str) -> None:
    found = match_sms_keyword(before + word + after)

    assert found is not None
    assert found.kind is SmsKeyword.STOP
    assert found.whole_message


def test_the_kind_alone_is_what_an_inbound_webhook_acts_on() -> None:
    assert sms_keyword("please stop") is SmsKeyword.STOP
    assert sms_keyword("配信停止") is SmsKeyword.STOP
    assert sms_keyword("UNSTOP") is SmsKeyword.START
    assert sms_keyword("info") is SmsKeyword.HELP
    assert sms_keyword("paid it, thanks") is None
