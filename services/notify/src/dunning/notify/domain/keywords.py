"""What an inbound SMS asks for: opt out, opt back in, or help (English, Japanese, Korean).

Leans towards opt-out: a missed revocation is a violation (47 CFR 64.1200(a)(10)), a false one
costs one channel. Opting back in needs the whole message to be the keyword.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class SmsKeyword(StrEnum):
    """What a reply asks for, whichever word it used."""

    STOP = "stop"  # opt out: STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE, 配信停止, 수신거부...
    START = "start"  # opt back in (START, UNSTOP, YES): re-subscribes a number that opted out, never
    # consent for one that did not
    HELP = "help"  # HELP, INFO: the caller answers with who is texting and how to stop


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    kind: SmsKeyword
    keyword: str  # the canonical word matched: "STOP", "OPT OUT", "配信停止"
    whole_message: bool  # False when found inside a longer reply ("please stop texting me")


# 47 CFR 64.1200(a)(10) (FCC 24-24) names these as revocations per se; STOPALL is the CTIA
# carrier-wide form. The FCC also requires honouring "reasonable" other wording.
_OPT_OUT = {
    "stop": "STOP",
    "stopall": "STOPALL",
    "quit": "QUIT",
    "end": "END",
    "revoke": "REVOKE",
    "optout": "OPT OUT",
    "cancel": "CANCEL",
    "unsubscribe": "UNSUBSCRIBE",
}
# Words that mean nothing else in a reply to a payment reminder, so they count anywhere in it.
_UNAMBIGUOUS = {"stop", "stopall", "unsubscribe", "revoke", "optout"}
# "end", "quit" and "cancel" also mean other things ("end of the month", "cancel my plan"), so
# they count only when the rest of the reply is about the messages or courtesy.
_FILLER = frozenset(
    "please pls plz now me it all this these them texts text texting messages message msgs sms "
    "thanks thank you thx ok okay the sending send to us".split()
)
_OPT_IN = {"start": "START", "unstop": "UNSTOP", "yes": "YES"}
_HELP = {"help": "HELP", "info": "INFO"}

# Japan's Specified Electronic Mail Act (Art. 3) and Korea's Network Act (Art. 50) give
# recipients a right to refuse; these are the words their senders' own footers teach
# (配信停止 "stop delivery", 受信拒否 / 수신거부 "refuse to receive"). Compound phrases are
# unambiguous anywhere; short verbs (停止 "stop", 중지 "halt") only as the whole reply, since
# "カードが停止" (the card was stopped) is a reply about the payment, not the messages.
_CJK_ANYWHERE = {
    "配信停止": "配信停止",
    "送信停止": "送信停止",
    "配信解除": "配信解除",
    "受信拒否": "受信拒否",
    "配信拒否": "配信拒否",
    "送らないで": "送らないで",
    "수신거부": "수신거부",
    "수신차단": "수신차단",
    "수신중지": "수신중지",
    "발송중지": "발송중지",
    "문자거부": "문자거부",
    "보내지마": "보내지마",
    "그만보내": "그만보내",
}
_CJK_WHOLE = {
    word: word
    for word in (
        "停止",
        "中止",
        "解除",
        "拒否",
        "不要",
        "ストップ",
        "やめて",
        "止めて",
        "중지",
        "중단",
        "거부",
        "그만",
        "해지",
        "정지",
        "스톱",
    )
}
# Polite endings stripped before the whole-reply check: 停止してください, 중지해주세요.
_POLITE = (
    "してください",
    "して下さい",
    "お願いします",
    "おねがいします",
    "ください",
    "下さい",
    "します",
    "して",
    "해주세요",
    "해주십시오",
    "하세요",
    "해줘",
    "해요",
    "주세요",
    "합니다",
    "요",
)
_WORD = re.compile(r"[^\W_]+")


def sms_keyword(body: str) -> SmsKeyword | None:
    """What an inbound SMS body asks for, or None for an ordinary reply."""
    found = match_sms_keyword(body)
    return None if found is None else found.kind


def match_sms_keyword(body: str) -> KeywordMatch | None:
    """The keyword an inbound SMS body carries and how it was found, for the opt-out record."""
    tokens = _WORD.findall(unicodedata.normalize("NFKC", body).casefold())
    if not tokens:
        return None
    # "OPT-OUT", "opt out" and "Stop all" are written apart; joined, they are one keyword.
    joined = "".join(tokens)
    tokens = _join_pairs(tokens)
    found = _opt_out(tokens, joined)
    if found is not None:
        return found
    if all(token in _HELP or token in _FILLER for token in tokens):
        word = next((token for token in tokens if token in _HELP), None)
        if word is not None:
            return KeywordMatch(SmsKeyword.HELP, _HELP[word], whole_message=joined == word)
    if joined in _OPT_IN:
        return KeywordMatch(SmsKeyword.START, _OPT_IN[joined], whole_message=True)
    return None


def _opt_out(tokens: list[str], joined: str) -> KeywordMatch | None:
    if joined in _OPT_OUT:
        return KeywordMatch(SmsKeyword.STOP, _OPT_OUT[joined], whole_message=True)
    for token in tokens:
        if token in _UNAMBIGUOUS:
            return KeywordMatch(SmsKeyword.STOP, _OPT_OUT[token], whole_message=False)
    if any(token in _OPT_OUT for token in tokens) and all(t in _OPT_OUT or t in _FILLER for t in tokens):
        word = next(token for token in tokens if token in _OPT_OUT)
        return KeywordMatch(SmsKeyword.STOP, _OPT_OUT[word], whole_message=False)
    compact = _strip_polite(joined)
    if compact in _CJK_WHOLE:
        return KeywordMatch(SmsKeyword.STOP, _CJK_WHOLE[compact], whole_message=True)
    for phrase, canonical in _CJK_ANYWHERE.items():
        if phrase in joined:
            return KeywordMatch(SmsKeyword.STOP, canonical, whole_message=compact == phrase)
    return None


def _join_pairs(tokens: list[str]) -> list[str]:
    joined: list[str] = []
    for token in tokens:
        if joined and (joined[-1], token) in {("opt", "out"), ("stop", "all")}:
            joined[-1] += token
        else:
            joined.append(token)
    return joined


def _strip_polite(text: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for ending in _POLITE:
            if text.endswith(ending) and len(text) > len(ending):
                text = text[: -len(ending)]
                stripped = True
    return text
