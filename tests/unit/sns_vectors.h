/*
 * sns_vectors.h — five real SNS deliveries (Notification without and with
 * Subject, SignatureVersion 2, SubscriptionConfirmation, UnsubscribeConfirmation)
 * signed by SNS, and the certificate they were signed with, shared by the
 * envelope, verification and certificate tests.
 */
#ifndef TWOWAYD_TESTS_SNS_VECTORS_H
#define TWOWAYD_TESTS_SNS_VECTORS_H

/* What the deliveries share, as SNS wrote it: their topic, the certificate
 * they were signed with and the subscription's unsubscribe link. */
#define VEC_TOPIC_ARN "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic"
#define VEC_SIGNING_CERT_URL                                                                       \
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-"                           \
        "7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
#define VEC_UNSUBSCRIBE_URL                                                                        \
        "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" VEC_TOPIC_ARN   \
        ":b24e11a2-06bd-4e73-aa29-0ed2de3b41b5"

static const char vec_notification_no_subject[] =
        "{\n"
        "  \"Type\" : \"Notification\",\n"
        "  \"MessageId\" : \"c0e5a280-53c9-5a98-93bb-c0a560b3d192\",\n"
        "  \"TopicArn\" : \"" VEC_TOPIC_ARN "\",\n"
        "  \"Message\" : \"This notification has no subject.\",\n"
        "  \"Timestamp\" : \"2026-03-06T19:55:38.903Z\",\n"
        "  \"SignatureVersion\" : \"1\",\n"
        "  \"Signature\" : \"h5/2kLNyPKvMH+ipOA1kueaA1GLFlcKbO/9o6GbH7BtKk/8lM8krPFDrV+Lwuq8y"
        "ZDXTxeSXHR8pG1w9MkKQ3VlsHhMigy+5ejIsb+ZfpkDDO6dOACbkTg1twy9tLeKCyPfU01OokKTR6jlKJGCg"
        "XXDQm5Q1Fs4NfUz22xGqteycG1GIioqq2Hvd1PLsDkcoyUAhciugGFcZKIGjUbBtdhMTPFX1ed8iH+Y/p6o/"
        "eD0G2i614oRSXYRJyV2iNpl54LCCiCrAafAJAM5NXAJJq9CWyTjxHFC18FnPqSukW1/6Qa502oujhPJ/pyl+"
        "6mMBoF6LjnpbIyR8/Gmm+RY6fg==\",\n"
        "  \"SigningCertURL\" : \"" VEC_SIGNING_CERT_URL "\",\n"
        "  \"UnsubscribeURL\" : \"" VEC_UNSUBSCRIBE_URL "\"\n"
        "}\n";

static const char vec_notification_v2[] =
        "{\n"
        "  \"Type\" : \"Notification\",\n"
        "  \"MessageId\" : \"9d2c5580-b61d-550c-8583-37a582870907\",\n"
        "  \"TopicArn\" : \"" VEC_TOPIC_ARN "\",\n"
        "  \"Message\" : \"This message uses signature version 2.\",\n"
        "  \"Timestamp\" : \"2026-03-06T20:00:26.893Z\",\n"
        "  \"SignatureVersion\" : \"2\",\n"
        "  \"Signature\" : \"kGNJ7FIM5DJxRv9bdoSJBty2WHpADFWrJ0ZQU/A2sALy6tBE5hqfUvPRlklTJ+PA"
        "CFMguoFOO7W6ac/Bs4gR+JBRFhx4598X8/HWzrmaLrtB2f7nzViHbpzYN+u+OewXhxjj2lNsu0bLKv6fogkA"
        "CytDIOhjZylbfJoPphDYAB7T3Ila7u+K3m2wLHH4k1cPYKyBf5FI/kAoQAVsY6qFHeb6CWfHsdM98I2gwyEv"
        "wJSzW0iyYBfqckmthQwH3Ex53jrhQlZylXFDYmstSJAdvbLeGqIUxKyk+O25wYgBjbbbeR+2qE2UCGEQrk1B"
        "q018wmTxdHZmDhoBjJXiGmFkfg==\",\n"
        "  \"SigningCertURL\" : \"" VEC_SIGNING_CERT_URL "\",\n"
        "  \"UnsubscribeURL\" : \"" VEC_UNSUBSCRIBE_URL "\"\n"
        "}\n";

static const char vec_notification_subject[] =
        "{\n"
        "  \"Type\" : \"Notification\",\n"
        "  \"MessageId\" : \"26858270-545e-5848-82a2-e05566af3dcf\",\n"
        "  \"TopicArn\" : \"" VEC_TOPIC_ARN "\",\n"
        "  \"Subject\" : \"My message subject\",\n"
        "  \"Message\" : \"Hello! This message has a subject.\",\n"
        "  \"Timestamp\" : \"2026-03-06T19:53:21.424Z\",\n"
        "  \"SignatureVersion\" : \"1\",\n"
        "  \"Signature\" : \"jvNSgHVOF9KUOKI3bmQZhURD0kDN6txhfjiyuvnV95Dw6b2SRa7nq3AhM8agP0KU"
        "CIrRgKHqUlN6K2XBA35Lzkx1eI5RT0oXIN00pvvzGxSz0ddnuSGmDJM7bd/b1vl2RlLjz+KvkhzEtspxLnxj"
        "LsGl2EpOmztt+um7owb4475sOLdGTx1QiFV/8HqB2J0DyjeWdRZvu7Xpsf1Yd2rgmijFoz8x89Vw8pIksjcz"
        "r4q16pxdh/XKWjbN2uPoC+3EeYdljL8KUvLYH9ueHSs5E9qq2iLdze4+FtANnE73XRvvSGE0KI+FGOvz1ige"
        "st6qon3g1/CVy4mq3n19TsCSmA==\",\n"
        "  \"SigningCertURL\" : \"" VEC_SIGNING_CERT_URL "\",\n"
        "  \"UnsubscribeURL\" : \"" VEC_UNSUBSCRIBE_URL "\"\n"
        "}\n";

static const char vec_subscription_confirmation[] =
        "{\n"
        "  \"Type\" : \"SubscriptionConfirmation\",\n"
        "  \"MessageId\" : \"f3f2fc87-c426-4c2f-9044-b55890c0939c\",\n"
        "  \"Token\" : \"2336412f37fb687f5d51e6e2425929f52e8e353134fe72d55ef8b330217d82da1400"
        "7cbccefffd35b695feb8f0294d01fd9644f41e1ddfad261519a2c0bac743ff375eeb64530147d2da57f3"
        "acc54739da14c8dbd48a9d58ce996eff0d498ea6b4b9f58720d8959b52b99b8de148081720d7da17434e"
        "376614a00c992e7823e4\",\n"
        "  \"TopicArn\" : \"" VEC_TOPIC_ARN "\",\n"
        "  \"Message\" : \"You have chosen to subscribe to the topic arn:aws:sns:us-west-2:13"
        "1990247566:dongie-standard-topic.\\nTo confirm the subscription, visit the Subscribe"
        "URL included in this message.\",\n"
        "  \"SubscribeURL\" : \"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscripti"
        "on&TopicArn=arn:aws:sns:us-west-2:131990247566:dongie-standard-topic&Token=2336412f3"
        "7fb687f5d51e6e2425929f52e8e353134fe72d55ef8b330217d82da14007cbccefffd35b695feb8f0294"
        "d01fd9644f41e1ddfad261519a2c0bac743ff375eeb64530147d2da57f3acc54739da14c8dbd48a9d58c"
        "e996eff0d498ea6b4b9f58720d8959b52b99b8de148081720d7da17434e376614a00c992e7823e4\",\n"
        "  \"Timestamp\" : \"2026-03-06T19:31:32.895Z\",\n"
        "  \"SignatureVersion\" : \"1\",\n"
        "  \"Signature\" : \"Ce2Ax8UbEq0RrVH7gsjP9WZ9bzif7dUkAY4OH99Pv7FSrvs8cK+uiH3a6ig54rXW"
        "UnZRUejk8K6KeK5Q80O9iJp8KbPRKdQ0PkJ3YASdabhfK0e7evC05YR2pFoS6nNaqNzT7HrR1d1Z9iLoFxlu"
        "o2Dzb7kWVB7e9jp/y+ZBXRzRIaZgscM84kahBc6QgXOFJA1/PFA4cB5qaa6tBcUFtTE63o9vJ4wMmKk93W9M"
        "oszC+dNJeVFr8VHmt3toR+3JauBCZnGdgXgsDhni4PduSfWJJxEpuOK41iYf1hW+xFNFFsv46siTFiHdHiYD"
        "fI7/VlaY4spMgkq3EndRr7rHzQ==\",\n"
        "  \"SigningCertURL\" : \"" VEC_SIGNING_CERT_URL "\"\n"
        "}\n";

static const char vec_unsubscribe_confirmation[] =
        "{\n"
        "  \"Type\" : \"UnsubscribeConfirmation\",\n"
        "  \"MessageId\" : \"0b71e34e-42c3-486a-9e32-b1928ec994b5\",\n"
        "  \"Token\" : \"2336412f37fb687f5d51e6e2425929f52e8e353134fd0284eae5672847af082a982c"
        "7dd18215a1485e04e559716f8b42054594757f42dee2d63c46fd3a0fa59b4d688de03db956f8bf9f8cb3"
        "167587a28b74c5d325e6a7594d24a43ac534de2dfca614ca89cebd490342c721c30a76ea03def1367343"
        "7a6a3e450642580119d0\",\n"
        "  \"TopicArn\" : \"" VEC_TOPIC_ARN "\",\n"
        "  \"Message\" : \"You have chosen to deactivate subscription arn:aws:sns:us-west-2:1"
        "31990247566:dongie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3b41b5.\\nTo cancel "
        "this operation and restore the subscription, visit the SubscribeURL included in this"
        " message.\",\n"
        "  \"SubscribeURL\" : \"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscripti"
        "on&TopicArn=arn:aws:sns:us-west-2:131990247566:dongie-standard-topic&Token=2336412f3"
        "7fb687f5d51e6e2425929f52e8e353134fd0284eae5672847af082a982c7dd18215a1485e04e559716f8"
        "b42054594757f42dee2d63c46fd3a0fa59b4d688de03db956f8bf9f8cb3167587a28b74c5d325e6a7594"
        "d24a43ac534de2dfca614ca89cebd490342c721c30a76ea03def13673437a6a3e450642580119d0\",\n"
        "  \"Timestamp\" : \"2026-03-06T20:02:25.038Z\",\n"
        "  \"SignatureVersion\" : \"2\",\n"
        "  \"Signature\" : \"RLW/cGWZAdY96iEcvXGmAZQ851DUyWehJIUMHT3Qa0/kX7Wu2QimI44TfE8d9hTq"
        "yYFreA6ln4AS67m225DuySpBeiUBtzB/ibiU7jdZmfSiT/I/RTEU3eD0lHHZIYW0M7HAlhHyaSXdcSAbtfnh"
        "MBMION93IVl6UOR4kWYdJaJ17/u3by3zlSRs8wCIpj06S6BzuzxrINZPJl+NKZYCVdMlrjuT4etX/UfZkC0T"
        "jchpmu/CQcuimAgswlesm8cVue0WqNPXkOr8h7HmsiGVXPN1jjkYKf2/tVJyBxur/lSksMopER8wtAIsrqY1"
        "caAZSI8YJkIndg/b+7eCwkjTBA==\",\n"
        "  \"SigningCertURL\" : \"" VEC_SIGNING_CERT_URL "\"\n"
        "}\n";

/* The signing certificate of the deliveries above. It chains to "Amazon RSA
 * 2048 M01" and expired on 2026-10-14. */
static const char vec_cert_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIFxTCCBK2gAwIBAgIQBkyRNHAyygLkObkxH5ju+zANBgkqhkiG9w0BAQsFADA8\n"
        "MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRwwGgYDVQQDExNBbWF6b24g\n"
        "UlNBIDIwNDggTTAxMB4XDTI1MTExMDAwMDAwMFoXDTI2MTAxNDIzNTk1OVowHDEa\n"
        "MBgGA1UEAxMRc25zLmFtYXpvbmF3cy5jb20wggEiMA0GCSqGSIb3DQEBAQUAA4IB\n"
        "DwAwggEKAoIBAQChbVNQ+DEaT5WN+l+bg0iEeF666Z6LDFc1KJr4lNl0odcXQSsk\n"
        "KsZYCMVdp4I/Ikk9zWyckRTMkmQGYimpD+bTsMCP5C/sJIU0E9Y2OXjjl5Videkq\n"
        "qnRL9VdE5N41Rvks7S/5MpYcSmCsmaHfwcv82Gvx2zm9CrA5Xu7K2ZqhzRQPCRSP\n"
        "mHTHQr4ED63ujE+qTpPgQZ0TvgmcrAc08Z75Z7Zzs17aTNc3YhAtQx9WowN8uiHk\n"
        "kgc+ONNdtwKvWZNmnbmxMHYtYc291WCP1K1Nh4TV5XNyjIebzQKDrqTCN0ItAr1x\n"
        "e6Bl3BYS3SG9XHAy0q3ekITzQsKypcuaK6dTAgMBAAGjggLhMIIC3TAfBgNVHSME\n"
        "GDAWgBSBuA5jiokSGOX6OztQlZ/m5ZAThTAdBgNVHQ4EFgQUBQEUzzzuVJAKzAlR\n"
        "d0Q//W6HvZUwHAYDVR0RBBUwE4IRc25zLmFtYXpvbmF3cy5jb20wEwYDVR0gBAww\n"
        "CjAIBgZngQwBAgEwDgYDVR0PAQH/BAQDAgWgMBMGA1UdJQQMMAoGCCsGAQUFBwMB\n"
        "MDsGA1UdHwQ0MDIwMKAuoCyGKmh0dHA6Ly9jcmwucjJtMDEuYW1hem9udHJ1c3Qu\n"
        "Y29tL3IybTAxLmNybDB1BggrBgEFBQcBAQRpMGcwLQYIKwYBBQUHMAGGIWh0dHA6\n"
        "Ly9vY3NwLnIybTAxLmFtYXpvbnRydXN0LmNvbTA2BggrBgEFBQcwAoYqaHR0cDov\n"
        "L2NydC5yMm0wMS5hbWF6b250cnVzdC5jb20vcjJtMDEuY2VyMAwGA1UdEwEB/wQC\n"
        "MAAwggF/BgorBgEEAdZ5AgQCBIIBbwSCAWsBaQB3ANdtfRDRp/V3wsfpX9cAv/mC\n"
        "yTNaZeHQswFzF8DIxWl3AAABmnAb33MAAAQDAEgwRgIhANXAgMEZWU326cqxqwnf\n"
        "ntD0XcBjRbmvVMOp3hZ8boPXAiEAkI3NTMXcdLCChHak1ipOae7K7r3spMGUMk6Q\n"
        "cEUKqBEAdgDCMX5XRRmjRe5/ON6ykEHrx8IhWiK/f9W1rXaa2Q5SzQAAAZpwG9+u\n"
        "AAAEAwBHMEUCIQD+Qyok8NYaFuQkccW+XIMmxHxj6Yka2wjtg6UN/tbU5wIgcp4z\n"
        "8MyC/dUfeLRuHAt0owtVgEu7xXqrMBOYlbXrfC4AdgDLOPcViXyEoURfW8Hd+8lu\n"
        "8ppZzUcKaQWFsMsUwxRY5wAAAZpwG9+yAAAEAwBHMEUCIQCmu1jQUG9A2br7OqwM\n"
        "FvQXtBX10yIvvDa6a2Ov1Zgg6gIgKlqRvN6WhX0pSHAN2bKmjRwIUI3X9kjS/A/m\n"
        "DYULaV4wDQYJKoZIhvcNAQELBQADggEBAIbTQWQhqrG6SzwLq79tKCpI0aL0xlD+\n"
        "/jrGPxpwTlK7rtAArHiEVh/bsmwLYRlIxPBiU+NE/kqeT0lhJA6/e3X3KRmnpJ6u\n"
        "Z70PJGYwmZbSRsFom0vGFBMncX0qYx1iD0dooPeAkkSnM5j81rBh+FepV3HfF+tA\n"
        "9gaglWLsU7Z/A0fdn9D32UPreVHloOut5EyEinvXRUAWZco9CRloyEXJr7Mxq9MZ\n"
        "vYOK+5wuSPHnPij+fGlQsPxEgoTnCmU03PqNS49kL13jjEnYYdijqL+4rfHtuZbc\n"
        "4hlVoZfttwg8wD3m5brhQ+GkBBNYN8HFtdVy/BnFi+SPJqv6BgB3Y00=\n"
        "-----END CERTIFICATE-----\n";

/* 2026-03-06T20:00:00Z, when the real certificate was valid. */
#define REAL_CERT_VALID_AT ((time_t)1772827200)

#endif
