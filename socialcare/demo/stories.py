"""The demo's cases as they happened: who wrote what where, and what the agents did about it."""

from __future__ import annotations

from dataclasses import dataclass

from socialcare.demo.data import CLOSED, HIGH, LOW, NEW, NORMAL, OPEN, RESOLVED, URGENT, WAITING


@dataclass(frozen=True)
class Story:
    """One case as it happened: the first post, then (optionally) an agent's reply and an answer."""

    who: str  # a CUSTOMERS key, or "?" + an UNRESOLVED key
    platform: str
    status: str  # where the case ends up
    priority: str
    hours_ago: float  # when the case was opened
    text: str
    agent: str = ""  # who took the case (empty: nobody yet)
    reply: str = ""  # the agent's reply; "@shortcut" renders that reply template
    follow_up: str = ""  # the customer's answer to the reply
    tags: tuple[str, ...] = ()
    note: str = ""
    private: bool = False
    team: str = ""  # a TEAMS key when not the channel's default team
    kind: str = ""  # the first post's kind when not the usual one for the platform
    # For text VADER cannot score (it reads English): the first post's and the answer's sentiment.
    sentiment: float | None = None
    follow_up_sentiment: float | None = None


STORIES = [
    Story("marcus", "x", OPEN, URGENT, 2.5,
          "@AcmeHelp third Acme Cam in a month that just dies overnight. 412k of you follow me for "
          "honest reviews, so here it is: don't buy this until Acme fixes it.",
          agent="hannah", team="escalations",
          reply="We're really sorry, Marcus. This isn't the experience we want for anyone. Our "
          "hardware team would like to look at the unit; could you DM us its serial number? – Hannah",
          follow_up="DM sent. Let's see if you actually follow up this time.",
          follow_up_sentiment=-0.3,
          tags=("influencer", "hardware", "acme-cam"),
          note="412k followers, tech reviewer. Offer a replacement and a direct line to hardware "
          "QA; loop in PR before any public statement.", sentiment=-0.7),
    Story("zoe", "instagram", WAITING, HIGH, 20,
          "Love the new Hub design 😍 but the app has logged me out three times today and my lights "
          "won't turn on… help??",
          agent="sofia", reply="@take-to-dm", tags=("app-login", "influencer")),
    Story("jonas", "x", OPEN, NORMAL, 30,
          "@AcmeHelp Bestellung #AC-48213 seit 9 Tagen „in Zustellung“. Das Tracking bewegt sich "
          "nicht, und am Telefon geht niemand ran. Was ist da los?",
          agent="lukas", reply="@entschuldigung",
          follow_up="Danke. Hoffentlich diesmal wirklich.", tags=("delivery",),
          note="DHL says the parcel is stuck in the Leipzig hub; requested a trace.",
          sentiment=-0.6, follow_up_sentiment=-0.1),
    Story("jonas_dup", "email", NEW, NORMAL, 26,
          "Order AC-48213 not delivered\n\nHello, I already wrote on Twitter. My order AC-48213 is "
          "still not here after 9 days. Please refund it or send it again.\n\nJonas Mueller"),
    Story("kenji", "instagram", RESOLVED, NORMAL, 50,
          "アプリを更新してから、カメラの通知が届かなくなりました。設定は何も変えていません。",
          agent="aiko",
          reply="Sorry about that, Kenji! Version 4.2.1, out today, fixes missing camera "
          "notifications. Could you update and let us know? 🙏",
          follow_up="アップデートしたら直りました！ありがとうございます 🙏",
          tags=("notifications", "app"), sentiment=-0.4, follow_up_sentiment=0.7),
    Story("susie", "facebook", CLOSED, LOW, 120,
          "🙏 Thank you Acme team, Raj sorted out my return in 5 minutes on chat yesterday!",
          agent="maya", reply="@thanks", tags=("praise",), sentiment=0.8),
    Story("lena", "mastodon", WAITING, HIGH, 9,
          "@acmehelp I think someone logged into my Acme account from another country last night. "
          "I got a 'new device' email I didn't trigger. What should I do?",
          private=True, agent="diego", team="escalations",
          reply="Thanks for telling us so quickly, Lena. We've signed out every session on your "
          "account. Please reset your password and turn on two-step verification, then confirm the "
          "email on the account so we can check the sign-in log.",
          tags=("security", "account"),
          note="Sign-in from a Tor exit node at 02:14. Sessions revoked; watch for a refund request "
          "on the stored card.", sentiment=-0.4),
    Story("aisha", "x", NEW, NORMAL, 3,
          "Been on hold with @AcmeHelp for 47 minutes. 47. Just to cancel a subscription I never "
          "signed up for.",
          team="billing", tags=("billing", "cancellation")),
    Story("?kev", "x", NEW, LOW, 0.2,
          "@AcmeHelp is the Acme Hub compatible with Matter yet or still 'coming soon' 🙃"),
    Story("chloe", "instagram", OPEN, NORMAL, 5,
          "Bonjour ! Ma commande est arrivée avec l'écran du Hub fissuré 😢 J'ai des photos, je fais "
          "comment pour l'échange ?",
          private=True, agent="sofia",
          reply="Bonjour Chloé, désolés ! Envoyez-nous les photos ici avec votre numéro de "
          "commande, on lance l'échange tout de suite. – Sofia",
          follow_up="Voilà les photos, commande AC-51902 📦", tags=("damaged", "exchange"),
          sentiment=-0.5, follow_up_sentiment=0.0),
    Story("sam", "x", RESOLVED, HIGH, 70,
          "Acme Plus went from €4.99 to €7.99 with one email and no opt-out link. That's not how "
          "you treat early adopters @AcmeHelp",
          agent="priya", team="billing",
          reply="Hi Sam, fair criticism. Early adopters keep €4.99 for 12 more months; you'll see it "
          "on your next invoice. Sorry the email didn't say so. – Priya",
          follow_up="OK, that's actually decent. Thanks for the quick answer.",
          tags=("pricing", "influencer")),
    Story("karl", "email", CLOSED, NORMAL, 140,
          "Doppelte Abbuchung Rechnung 2024-118842\n\nSehr geehrte Damen und Herren, die Rechnung "
          "2024-118842 wurde doppelt abgebucht. Bitte erstatten Sie mir 89,00 €.\n\nMit freundlichen "
          "Grüßen\nKarl-Heinz Größmann",
          agent="tobias",
          reply="Sehr geehrter Herr Größmann, vielen Dank für Ihre Nachricht. Die doppelte "
          "Abbuchung ist storniert; die 89,00 € sind in 3–5 Werktagen auf Ihrem Konto.\n\nMit "
          "freundlichen Grüßen\nTobias Schmidt, Acme Billing",
          follow_up="Vielen Dank für die schnelle Erledigung!",
          tags=("billing", "refund"), sentiment=-0.3, follow_up_sentiment=0.7),
    Story("grace", "bluesky", CLOSED, LOW, 100,
          "shoutout to @acme.support for replacing my dead Cam in 2 days, no questions asked 🧑‍💻✨",
          agent="maya", reply="Thanks Grace, so glad it's sorted! ✨ – Maya", tags=("praise",),
          sentiment=0.7),
    Story("misaki", "x", OPEN, HIGH, 1.5,
          "@AcmeHelp ハブが再起動を繰り返していて、家の照明が全部使えません。どうすればいいですか？",
          agent="aiko", tags=("hub",), sentiment=-0.6),
    Story("fatima", "facebook", WAITING, NORMAL, 28,
          "Hi, I was charged twice for my Acme Plus subscription this month. Can you refund one of "
          "them?",
          private=True, agent="priya", team="billing",
          reply="Hi Fatima, sorry about that! Could you send us the last 4 digits of the card and "
          "the dates of both charges? Then we'll refund the duplicate right away. – Priya",
          tags=("billing", "double-charge")),
    Story("tom", "x", CLOSED, NORMAL, 150,
          "@AcmeHelp the app crashes every time I open the camera tab on my Pixel 8. Reinstalled "
          "twice. Useless.",
          kind="reply", agent="lukas",
          reply="Sorry Tom! That's a known bug on Android 14 and version 4.2.0 (out now) fixes it. "
          "Could you update and let us know? – Lukas",
          follow_up="Updated, works now 👍", tags=("app", "android"), follow_up_sentiment=0.5),
    Story("seun", "x", NEW, URGENT, 0.5,
          "@AcmeHelp my Acme smoke sensor keeps beeping 'hardware fault' but the app says everything "
          "is fine. Which one do I believe?? I have kids in the house.",
          team="escalations", tags=("safety",), sentiment=-0.5),
    Story("emilie", "instagram", RESOLVED, LOW, 60,
          "Does the Hub work with Google Home? Thinking of buying one for my parents.",
          agent="sofia",
          reply="Yes it does, Émilie! Add it in the Google Home app under 'Works with Google'; "
          "setup takes about 2 minutes. – Sofia",
          follow_up="Parfait, merci !", tags=("pre-sales",), follow_up_sentiment=0.6),
    Story("noah", "facebook", OPEN, HIGH, 7,
          "Third time asking: where is my refund? Returned the Cam on the 2nd, tracking says "
          "delivered to your warehouse. Nobody answers emails.",
          agent="maya", team="billing",
          reply="Hi Noah, we're sorry for the wait. I've escalated your refund to our billing "
          "team; could you DM us your order number so we can check? – Maya",
          follow_up="Sent. Again.", tags=("refund", "escalated"),
          sentiment=-0.6, follow_up_sentiment=-0.4),
    Story("yuki", "instagram", RESOLVED, NORMAL, 45,
          "Hi! How do I share camera access with my partner? The invite link expired 😅",
          private=True, agent="aiko",
          reply="Hi Yuki! Invites expire after 24 hours. Go to Settings → Household → Invite and ask "
          "your partner to accept within a day 😊 – Aiko",
          follow_up="Got it, thank you!!", tags=("how-to",)),
    Story("ingrid", "bluesky", WAITING, NORMAL, 16,
          "@acme.support the Hub drops off wifi every night around 3am. Router is fine, "
          "everything else stays connected.",
          agent="lukas",
          reply="Hi Ingrid, could you tell us the Hub's firmware version (Settings → Device → "
          "About) and your router model? Nightly drops often come from a channel change.",
          tags=("wifi", "hub"), sentiment=-0.3),
    Story("rafael", "x", CLOSED, LOW, 130,
          "Honestly the Acme support team is the best I've dealt with this year. Fixed my billing "
          "in one reply. @AcmeHelp 👏",
          agent="priya", reply="@thanks", tags=("praise",)),
    Story("hana", "instagram", NEW, NORMAL, 1.2,
          "배송이 일주일째 안 와요. 주문번호 AC-52117 확인 부탁드려요 😭",
          tags=("delivery",), sentiment=-0.5),
    Story("leila", "x", WAITING, HIGH, 12,
          "Your status page says 'all systems operational' while nobody I know can log in. Which "
          "is it @AcmeHelp?",
          agent="hannah", reply="@outage-holding", tags=("outage", "app-login"), sentiment=-0.5),
    Story("soren", "mastodon", OPEN, NORMAL, 22,
          "@acmehelp any plans for a local-only mode on the Hub? I'd rather my light switches "
          "didn't need the cloud.",
          agent="lukas",
          reply="Great question, Søren! Local control is on our roadmap for later this year, and "
          "I've added your vote to the request. – Lukas",
          follow_up="Thanks! Will there be a beta I can join?", tags=("feature-request",)),
    Story("mateo", "email", NEW, NORMAL, 20,
          "Wrong colour Hub\n\nHola, I ordered the wrong colour Hub (white instead of black). Can I "
          "still swap it? Order AC-50076.\n\nGracias, Mateo",
          tags=("exchange",), sentiment=-0.1),
    Story("ananya", "x", OPEN, HIGH, 4,
          "My account has been suspended and I don't know why. All my cameras are offline and I'm "
          "travelling, so I can't check on my home. Please help.",
          private=True, agent="diego", team="escalations", tags=("account", "security"),
          sentiment=-0.6),
    Story("?owl", "instagram", NEW, LOW, 0.05, "is there a black friday deal coming?? 👀"),
    Story("?pixel", "mastodon", WAITING, NORMAL, 35,
          "@acmehelp are the rate limits of your cloud API documented anywhere? Building a "
          "dashboard for my Hub.",
          agent="maya",
          reply="Hi! 60 requests per minute per token; the limits are at "
          "developer.acme.example/limits. Is that enough for your dashboard? – Maya",
          tags=("developer",)),
    Story("?anon", "bluesky", CLOSED, NORMAL, 90,
          "the Acme status page has been down longer than the service it reports on lol",
          agent="hannah",
          reply="Fair hit 😅 The status page is back, and it now runs on separate infrastructure.",
          tags=("outage",), sentiment=-0.2),
    Story("marcus", "bluesky", CLOSED, HIGH, 110,
          "Acme Cam night vision looks noticeably worse since the last firmware update. Anyone "
          "else seeing this?",
          agent="hannah", team="escalations",
          reply="Thanks Marcus, confirmed on our side: firmware 3.8.2 restores night vision "
          "quality and is rolling out now. – Hannah",
          follow_up="Installed it, night vision is back to normal. Thanks.",
          tags=("firmware", "influencer")),
    Story("aisha", "email", CLOSED, LOW, 96,
          "Invoice with company address\n\nHi, could you send me an invoice for my March order with "
          "my company address? Khan Design Ltd, 14 Mill Lane, Leeds.\n\nThanks, Aisha",
          agent="tobias",
          reply="Hi Aisha, here is invoice AC-INV-30417 with your company address. Anything else, "
          "just reply here. – Tobias",
          follow_up="Perfect, thank you!", tags=("invoice",)),
    Story("kenji", "x", OPEN, LOW, 10,
          "@AcmeHelp 日本でもHubは買えますか？ Is the Hub sold in Japan yet?",
          agent="aiko", tags=("pre-sales",), sentiment=0.1),
    Story("chloe", "x", RESOLVED, LOW, 80,
          "Commande reçue en 2 jours, installée en 5 minutes. Bravo @AcmeHelp 🌻",
          agent="sofia", reply="Merci Chloé, ça nous fait très plaisir ! 🌻 – Sofia",
          follow_up="🌻🌻", tags=("praise",), sentiment=0.8, follow_up_sentiment=0.5),
    Story("lena", "bluesky", WAITING, NORMAL, 40,
          "does @acme.support export camera clips in a non-proprietary format? asking before I "
          "buy more of them",
          agent="maya",
          reply="Hi Lena! Clips export as standard MP4 (H.264) from the app or the web dashboard. "
          "Want a link to the guide? – Maya",
          tags=("pre-sales",)),
    Story("zoe", "x", RESOLVED, HIGH, 55,
          "my Acme Plus trial turned into a YEARLY charge without any reminder email. €79. not cool",
          agent="priya", team="billing",
          reply="Hi Zoë, we're sorry! We've refunded the €79 and switched you to monthly. The "
          "missing reminder email was a bug and is fixed. – Priya",
          follow_up="refund landed, thanks for sorting it so fast 🎧",
          tags=("billing", "refund", "influencer")),
    Story("tom", "email", WAITING, LOW, 50,
          "Changing my account email\n\nHello, can I change the email address on my account? I'm "
          "moving jobs and will lose the old one.\n\nTom",
          agent="tobias",
          reply="Hi Tom, sure! For security, please reply from your current address with the new "
          "one and we'll switch it. – Tobias",
          tags=("account",), sentiment=0.0),
    Story("grace", "mastodon", NEW, NORMAL, 0.4,
          "@acmehelp hey! the invite email for my Acme family plan never arrived, I checked spam "
          "too", private=True, tags=("account",)),
    Story("susie", "facebook", RESOLVED, NORMAL, 75,
          "Is anyone else's Hub stuck on a blinking orange light after the update? Unplugged it "
          "twice already.",
          agent="lukas",
          reply="Hi Susie! Hold the button for 10 seconds until it blinks white; it will finish the "
          "update by itself. Sorry for the trouble! – Lukas",
          follow_up="That did it, thanks!", tags=("hub", "firmware")),
    Story("seun", "x", CLOSED, NORMAL, 145,
          "@AcmeHelp ordered the Cam bundle, got two Hubs instead 😂",
          agent="sofia",
          reply="Oops, sorry Seun! 😅 A courier will collect the extra Hub and the Cam bundle is on "
          "its way; you'll get tracking by email. – Sofia",
          follow_up="Got the Cam, courier took the Hub. All good!", tags=("delivery", "wrong-item")),
    Story("noah", "x", OPEN, URGENT, 0.9,
          "@AcmeHelp is this a data breach? I just got 14 password reset emails from you in 10 "
          "minutes.",
          agent="hannah", team="escalations", tags=("security",), sentiment=-0.6),
    # Due within the SLA warning window when the demo is loaded (public X and Instagram: 1 hour).
    Story("rafael", "x", NEW, NORMAL, 0.83,
          "@AcmeHelp my Cam asks me to pair it again after every Hub reboot. Is there a fix for "
          "that?", tags=("acme-cam", "hub"), sentiment=-0.3),
    Story("emilie", "instagram", NEW, HIGH, 0.8,
          "The Cam I got for my parents won't connect to their wifi, the app just says 'error "
          "12'. What does that mean?", tags=("acme-cam",), sentiment=-0.3),
    # Another id space, possibly the same person: the identity page suggests Susie's customer.
    Story("?susie_ig", "instagram", NEW, NORMAL, 3,
          "Hi, it's Susie again (I usually write on your Facebook page). The Hub light is orange "
          "again since this morning.", private=True, tags=("hub",), sentiment=-0.2),
]  # fmt: skip
