/** The one readable line for a provider failure lives in common/ (the measure wizard uses it too). */
export { shortProviderReason, stripOrtAssertion, readableMessage } from '../../common/provider-reason';
