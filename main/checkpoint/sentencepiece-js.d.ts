// Types for @agnai/sentencepiece-js (the package ships none): the wasm SentencePiece processor.
declare module '@agnai/sentencepiece-js' {
  export class SentencePieceProcessor {
    load(file: string): Promise<void>;
    encodeIds(text: string): number[];
    encodePieces(text: string): string[];
    decodeIds(ids: number[]): string;
  }
  const _default: { SentencePieceProcessor: typeof SentencePieceProcessor };
  export default _default;
}
