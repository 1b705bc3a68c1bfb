(cMailman.Message
Message
qoq}q(U_headersq]q((UReturn-PathqU<spammer@spam.example>qtq(UFromq	Uspammer@spam.exampleq
tq(UToqUusers@lists.netsight.exampleqtq(USubjectqUCheap watchesqtq(U
Message-IDqU<held.17@spam.example>qtqeU_payloadqU	Buy now.
qU_charsetqNU_default_typeqU
text/plainqUpreambleqNUdefectsq]qU	_unixfromqU2From spammer@spam.example Sun Nov 23 12:13:20 2025qUepilogueqNub.