/**
 * The SASL client responses of the two OAuth mechanisms, shared by the mail logins that speak
 * SASL themselves (POP3, and SMTP's own AUTH step; imapflow builds its own). Not yet base64.
 */

/** RFC 5801 saslname: the GS2 header's `a=` value escapes `,` and `=`. */
export const gs2SaslName = (user: string) => user.replace(/=/g, '=3D').replace(/,/g, '=2C');

/** Google's and Microsoft's XOAUTH2: `user=…^Aauth=Bearer …^A^A`. */
export const xoauth2Response = (user: string, accessToken: string) => `user=${user}\u0001auth=Bearer ${accessToken}\u0001\u0001`;

/** RFC 7628 OAUTHBEARER: a GS2 header naming the user, then `auth=Bearer …`. */
export const oauthBearerResponse = (user: string, accessToken: string) => `n,a=${gs2SaslName(user)},\u0001auth=Bearer ${accessToken}\u0001\u0001`;
